"""Use cases: what each function does, independent of the Lambda event shape; never a vendor worker."""
