"""Spec templates per domain for demo projects: a goal sentence, requirement sentences and a constraint, filled
with industry-specific nouns, so specs of the same kind of work in the same industry read alike."""

from __future__ import annotations

# Laid out by hand, not by ruff: one row per industry, the same five nouns in the same order.
INDUSTRIES = {
    "telecom": {"customers": "subscribers", "items": "network cells", "source": "call detail records",
                "events": "dropped calls", "site": "cell towers"},
    "retail": {"customers": "shoppers", "items": "store products", "source": "point-of-sale transactions",
               "events": "stock-outs", "site": "stores"},
    "banking": {"customers": "account holders", "items": "card transactions", "source": "core banking ledgers",
                "events": "loan defaults", "site": "branches"},
    "healthcare": {"customers": "patients", "items": "clinical encounters", "source": "electronic health records",
                   "events": "hospital readmissions", "site": "clinics"},
    "logistics": {"customers": "shippers", "items": "parcels", "source": "warehouse scan events",
                  "events": "late deliveries", "site": "distribution centres"},
    "energy": {"customers": "utility customers", "items": "smart meters", "source": "SCADA telemetry",
               "events": "grid outages", "site": "substations"},
    "insurance": {"customers": "policyholders", "items": "claims", "source": "the claims management system",
                  "events": "fraudulent claims", "site": "regional offices"},
    "e-commerce": {"customers": "online buyers", "items": "product listings", "source": "clickstream logs",
                   "events": "cart abandonments", "site": "storefronts"},
    "manufacturing": {"customers": "plant operators", "items": "production lines", "source": "PLC sensor streams",
                      "events": "machine breakdowns", "site": "factories"},
    "media": {"customers": "viewers", "items": "video titles", "source": "streaming playback logs",
              "events": "subscription cancellations", "site": "regional markets"},
    "public sector": {"customers": "citizens", "items": "service requests", "source": "case management records",
                      "events": "benefit application backlogs", "site": "municipal offices"},
    "pharma": {"customers": "trial participants", "items": "compounds", "source": "lab assay results",
               "events": "adverse drug reactions", "site": "trial sites"},
}  # fmt: skip

GOALS = {
    "classification": [
        "Predict which {customers} will be affected by {events} so the operations team can intervene early.",
        "Classify {items} by the risk of {events} using {source}.",
        "Build a classifier that flags {customers} likely to churn, trained on {source}.",
        "Detect {events} among {items} before they escalate, from {source}.",
    ],
    "regression": [
        "Estimate the monetary value of {items} for the next quarter from {source}.",
        "Predict the lifetime value of {customers} using {source}.",
        "Model the expected handling time of {items} at our {site}.",
        "Estimate the cost impact of {events} per site from {source}.",
    ],
    "forecasting": [
        "Forecast weekly demand for {items} across all {site} for the next twelve weeks.",
        "Forecast the daily volume of {events} at each of our {site}.",
        "Produce hourly load forecasts for {items} from {source}.",
        "Forecast monthly activity of {customers} per region to plan staffing at {site}.",
    ],
    "nlp": [
        "Extract structured fields from free-text notes about {items} in {source}.",
        "Classify incoming messages from {customers} by intent and urgency.",
        "Summarise long case notes about {events} for reviewers.",
        "Build semantic search over documents describing {items}.",
    ],
    "vision": [
        "Detect defects in photos of {items} taken at our {site}.",
        "Count and localise objects in camera images from {site}.",
        "Classify scanned documents submitted by {customers}.",
        "Segment images of {items} to measure damage after {events}.",
    ],
    "recommendation": [
        "Recommend relevant {items} to {customers} based on {source}.",
        "Rank next-best actions for {customers} to reduce {events}.",
        "Personalise the ordering of {items} shown to {customers}.",
        "Suggest similar {items} to support agents at our {site}.",
    ],
    "other": [
        "Build an anomaly detection service for {source}.",
        "Optimise the allocation of staff across {site} to reduce {events}.",
        "Create a data quality monitor for {source}.",
        "Cluster {customers} into segments for targeted programmes.",
    ],
}

REQUIREMENTS = {
    "classification": [
        "The model must reach a ROC AUC of at least 0.85 on a held-out quarter.",
        "Predictions are refreshed daily in a batch job.",
        "Each prediction comes with the top three contributing factors.",
        "Class imbalance must be handled explicitly, positives are below five percent.",
        "Calibrated probabilities are required for the decision threshold.",
        "False positives cost the business more than missed cases.",
        "The model is retrained monthly on a rolling window of data.",
    ],
    "regression": [
        "The mean absolute percentage error must stay below fifteen percent.",
        "Predictions include an uncertainty interval.",
        "Features must be computed from data available at prediction time only.",
        "Outliers in the historical data must be investigated and documented.",
        "The estimates feed the quarterly budgeting spreadsheet.",
        "A simple linear baseline must be reported for comparison.",
    ],
    "forecasting": [
        "Holiday and promotion effects must be modelled explicitly.",
        "Forecasts are produced every Monday morning before planning meetings.",
        "Accuracy is tracked with weighted MAPE per site.",
        "The pipeline must backfill two years of history.",
        "Forecasts must reconcile across the regional hierarchy.",
        "Prediction intervals at eighty and ninety five percent are required.",
    ],
    "nlp": [
        "Texts are in English and German and may contain spelling errors.",
        "Personal data must be redacted before any text leaves the secure zone.",
        "Labelled examples are scarce, so few-shot methods should be evaluated.",
        "Latency must stay below 300 milliseconds per document.",
        "Reviewers must be able to correct outputs, and corrections feed retraining.",
        "Macro F1 on the held-out set must exceed 0.8.",
    ],
    "vision": [
        "Images vary in lighting and resolution across sites.",
        "Inference runs on edge devices without a GPU.",
        "Annotation follows the shared labelling guideline and is double-checked.",
        "Mean average precision must exceed 0.7 on the validation set.",
        "Every rejected item must be traceable to the image that triggered it.",
        "The model must process at least ten images per second.",
    ],
    "recommendation": [
        "Recommendations must be served within 50 milliseconds.",
        "Cold-start users receive popularity-based suggestions.",
        "Offline evaluation uses NDCG at ten on a time-based split.",
        "An A/B test must confirm uplift before full rollout.",
        "Items that are out of stock or restricted must never be recommended.",
        "Diversity of recommendations is monitored weekly.",
    ],
    "other": [
        "Alerts are sent to the on-call channel with a link to the evidence.",
        "The system must run on the existing data platform without new infrastructure.",
        "Thresholds are configurable by the business owner.",
        "Results are reviewed with stakeholders every two weeks.",
        "All transformations are versioned and reproducible.",
    ],
}

CONSTRAINTS = [
    "All data must stay within the EU region.",
    "The solution must be explainable to auditors.",
    "The first version should ship within one quarter.",
    "Only approved open-source libraries may be used.",
    "Access to raw data is limited to the project team.",
    "The budget for cloud compute is capped per month.",
]

TITLES = {
    "classification": "{Industry} {events} classifier",
    "regression": "{Industry} value estimation",
    "forecasting": "{Industry} demand forecast",
    "nlp": "{Industry} text understanding",
    "vision": "{Industry} image inspection",
    "recommendation": "{Industry} recommendations",
    "other": "{Industry} analytics service",
}

# Laid out by hand, not by ruff: name lists read better packed than one name per line.
FIRST_NAMES = (
    "Ana", "Ben", "Chen", "Dara", "Eli", "Fatima", "Gus", "Hana", "Ivan", "Jia", "Kofi", "Lena", "Mateo", "Nia",
    "Omar", "Priya", "Quinn", "Rosa", "Sami", "Tariq", "Uma", "Viktor", "Wen", "Ximena", "Yusuf", "Zoe",
)  # fmt: skip
LAST_NAMES = (
    "Adams", "Berg", "Costa", "Dubois", "Eze", "Fischer", "Garcia", "Horvat", "Ito", "Jensen", "Kowalski", "Li",
    "Moreau", "Novak", "Okafor", "Petrov", "Quispe", "Rossi", "Silva", "Tanaka", "Usman", "Varga", "Weber", "Yilmaz",
)  # fmt: skip
