from churn.cli import app

app()
