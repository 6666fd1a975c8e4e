from django.apps import AppConfig


class ProjectsConfig(AppConfig):
    name = "apps.projects"
    label = "projects"
    verbose_name = "Projects"

    def ready(self):
        # Imported here, not at module level: apps.py is loaded before the app registry is ready.
        from apps.access.grant_targets import register_grant_target
        from apps.projects.models import Project
        from apps.projects.selectors import project_list
        from apps.tenants.quotas import register_quota_measure

        register_quota_measure("projects", "projects", Project.objects.count)
        register_grant_target("project", plural="projects", visible_to=project_list)
