"""form_builder."""
