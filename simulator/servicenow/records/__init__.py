"""Records: the data dictionary, the SQLite store, business rules and rendering."""
