"""Pydantic models shared by the functions: the contracts on the wire and in the stores."""
