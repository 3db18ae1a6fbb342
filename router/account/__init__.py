"""The account layer: what each request used and cost."""
