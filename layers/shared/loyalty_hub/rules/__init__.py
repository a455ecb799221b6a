"""Domain rules, free of AWS and HTTP: what a bill counts for, how a customer is projected, when a
vendor is asked again."""
