"""aiXplain agents for Prefect."""
