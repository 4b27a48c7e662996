"""Book pages: turning run records and published values into tables, claims and figures."""
