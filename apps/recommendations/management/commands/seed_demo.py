"""``python manage.py seed_demo --tenant demo --projects 600``: demo projects with a known ground truth."""

from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import schema_context

from apps.recommendations.demo.seed import seed_tenant
from apps.recommendations.models import ArtifactImpact, TrainingRun
from apps.tenants.models import Tenant


class Command(BaseCommand):
    help = (
        "Generate demo projects (specs from per-domain templates, teams, artifact usage, runs with metric curves, "
        "outcomes from the documented ground truth in apps/recommendations/demo/truth.py), embed them and train. "
        "Idempotent: an already seeded tenant gets no new projects; --reset replaces them."
    )

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="Tenant slug (schema name).")
        parser.add_argument("--projects", type=int, default=600)
        parser.add_argument("--seed", type=int, default=42, help="Random seed: the same seed gives the same data.")
        parser.add_argument("--reset", action="store_true", help="Delete seeded data and all models first.")
        parser.add_argument("--runs-per-project", type=int, default=3, help="Up to this many runs per project.")
        parser.add_argument("--metric-steps", type=int, default=40, help="Points per metric curve.")
        parser.add_argument("--no-train", action="store_true", help="Only write data and embeddings.")

    def handle(self, *args, tenant, projects, seed, reset, runs_per_project, metric_steps, no_train, **opts):
        if projects < 1:
            raise CommandError("--projects must be at least 1.")
        if not Tenant.objects.filter(schema_name=tenant).exists():
            raise CommandError(f"No tenant '{tenant}'. Create it first (provision_tenant or ensure_demo).")
        with schema_context(tenant):
            result = seed_tenant(
                projects=projects,
                seed=seed,
                reset=reset,
                runs_per_project=runs_per_project,
                metric_steps=metric_steps,
                train=not no_train,
                progress=lambda m: self.stdout.write(m),
            )
            self.stdout.write(f"projects created: {result.created} (already present: {result.existing})")
            self.stdout.write(f"embeddings: {result.embeddings}")
            for run in (result.training, *TrainingRun.objects.filter(kind="impact").order_by("-id")[:1]):
                if run is not None:
                    self.stdout.write(f"{run.kind} run {run.pk}: {run.status} — {run.detail}")
            helpful = ArtifactImpact.objects.filter(artifact__tags__contains=["helpful"]).select_related("artifact")
            harmful = ArtifactImpact.objects.filter(artifact__tags__contains=["harmful"]).select_related("artifact")
            for impact in [*helpful, *harmful]:
                self.stdout.write(
                    f"  impact {impact.artifact.name}: {impact.status} "
                    f"{'' if impact.impact is None else f'{impact.impact:+.2f}'} (n={impact.n_projects})"
                )
        self.stdout.write(self.style.SUCCESS("seed_demo done"))
