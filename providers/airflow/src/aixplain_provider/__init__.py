"""aiXplain agents for Apache Airflow."""
