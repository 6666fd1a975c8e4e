from django.db import models


class Role(models.TextChoices):
    """Tenant roles, most powerful first. What each may do is the permission matrix in docs/access.md."""

    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    LEAD = "lead", "Lead"
    MEMBER = "member", "Member"
    VIEWER = "viewer", "Viewer"


class TokenScope(models.TextChoices):
    READ = "read", "Read"
    WRITE = "write", "Write"
    ADMIN = "admin", "Admin"
