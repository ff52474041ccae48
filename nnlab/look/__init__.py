"""Looking at results: figures (PNG and the report's SVG from one module), the HTML report,
terminal charts and number formatting."""
