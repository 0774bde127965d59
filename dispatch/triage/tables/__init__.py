"""The protocol's rule tables, as JSON data files (a package so they ship in the wheel)."""
