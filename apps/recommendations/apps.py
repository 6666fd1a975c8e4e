from django.apps import AppConfig


class RecommendationsConfig(AppConfig):
    name = "apps.recommendations"
    label = "recommendations"
    verbose_name = "Recommendations"

    def ready(self):
        from django.conf import settings

        from apps.recommendations.ml import embeddings

        embeddings.set_threads(getattr(settings, "RECOMMENDATIONS_TORCH_THREADS", 1))
