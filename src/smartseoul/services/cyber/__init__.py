"""AI security control: log ingestion, Sigma detection, incidents and intrusion prediction.

``parsers`` (log lines -> ECS events), ``sigma`` and ``detection`` (rules and correlations),
``model`` (intrusion classifiers and anomaly detector) and ``incidents`` (grouping,
workflow, risk) are pure; ``store`` keeps raw events, ``service`` runs the live pipeline
and writes alerts, incidents and risk to the hub; ``routes`` and ``cli`` are thin.
"""
