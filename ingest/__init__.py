"""Ingestion: loaders (PDF, text, Markdown), cleaning, chunking and the pipeline."""
