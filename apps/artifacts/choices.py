from django.db import models


class ArtifactType(models.TextChoices):
    FEATURE_PIPELINE = "feature_pipeline", "Feature pipeline"
    MODEL_TEMPLATE = "model_template", "Model template"
    SCHEMA = "schema", "Schema"
    NOTEBOOK = "notebook", "Notebook"
    PROMPT = "prompt", "Prompt"
    DATASET = "dataset", "Dataset"
    MODEL = "model", "Model"
    PIPELINE = "pipeline", "Pipeline"
    DOCUMENT = "document", "Document"
