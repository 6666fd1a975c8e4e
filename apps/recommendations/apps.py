from django.apps import AppConfig


class RecommendationsConfig(AppConfig):
    name = "apps.recommendations"
    label = "recommendations"
    verbose_name = "Recommendations"

    def ready(self):
        from django.conf import settings
        from django.core.exceptions import ImproperlyConfigured

        # Imported here, not at module level: apps.py is loaded before the app registry is ready.
        from apps.projects.signals import project_written
        from apps.recommendations import panels, receivers
        from apps.recommendations.ml import embeddings
        from maestro.ui import panels as page_panels

        project_written.connect(receivers.on_project_written, dispatch_uid="recommendations.on_project_written")
        page_panels.register("projects.detail", panels.project_prediction)
        page_panels.register("artifacts.detail", panels.artifact_impact)
        embeddings.set_threads(getattr(settings, "RECOMMENDATIONS_TORCH_THREADS", 1))
        try:
            embeddings.set_precision(getattr(settings, "RECOMMENDATIONS_EMBEDDING_PRECISION", "auto"))
        except ValueError as error:
            raise ImproperlyConfigured(f"RECOMMENDATIONS_EMBEDDING_PRECISION: {error}") from None
        blas_threads = getattr(settings, "RECOMMENDATIONS_BLAS_THREADS", 1)
        if blas_threads > 0:
            # OpenBLAS threads busy-wait after each call; in a web or worker process that serves one request at a
            # time they steal the CPU from the request itself (measured: a recommendation took 118 ms of CPU with
            # two BLAS threads, 68 ms with one). Process-wide, set once at start-up.
            from threadpoolctl import threadpool_limits

            threadpool_limits(limits=blas_threads, user_api="blas")
