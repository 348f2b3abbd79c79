"""Small shared widgets and the plain functions behind the pages (testable without a browser)."""
