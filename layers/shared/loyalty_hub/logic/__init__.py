"""Domain logic: what each function does, independent of the Lambda event shape."""
