"""The encoded-query language: parser, and its compiler to SQL."""
