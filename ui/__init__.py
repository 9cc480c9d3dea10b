"""The Streamlit web app (entry point: ``ui/app.py``)."""
