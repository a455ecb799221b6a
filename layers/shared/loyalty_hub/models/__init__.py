"""The models shared by the functions (msgspec Structs, D49): the contracts on the wire and in the stores."""
