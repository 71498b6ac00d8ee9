# Purpose: ECR repository for the pillars image
# Scope: The `pillars` repository and its lifecycle policy
# Overview: The workflow builds pillars and pushes it here; the task definition runs
#     <repository>:<image_tag>. Images are scanned on push. Tags stay mutable by default because
#     image_tag is a moving tag the workflow re-pushes; a deployment that pins image_tag per
#     release can make them immutable. The lifecycle policy keeps the newest ecr_images_to_keep
#     images so the repository does not grow without bound.
# Related: ecs.tf (image reference), github-oidc.tf (push permissions), iam-task.tf (pull)

resource "aws_ecr_repository" "pillars" {
  count = var.enable_pillars ? 1 : 0

  name                 = local.name
  image_tag_mutability = var.ecr_immutable_tags ? "IMMUTABLE" : "MUTABLE"
  # Turning the flag off must succeed with images still in the repository; they are rebuilt
  # from source on the next push.
  force_delete = true

  image_scanning_configuration {
    scan_on_push = true
  }

  tags = merge(local.tags, {
    Name    = local.name
    Purpose = "pillars verification and load harness image"
  })
}

resource "aws_ecr_lifecycle_policy" "pillars" {
  count = var.enable_pillars ? 1 : 0

  repository = aws_ecr_repository.pillars[0].name

  policy = jsonencode({
    rules = [
      {
        rulePriority = 1
        description  = "Keep the newest ${var.ecr_images_to_keep} images"
        selection = {
          tagStatus   = "any"
          countType   = "imageCountMoreThan"
          countNumber = var.ecr_images_to_keep
        }
        action = {
          type = "expire"
        }
      }
    ]
  })
}
