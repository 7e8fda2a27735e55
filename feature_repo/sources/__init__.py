"""Built-in event sources converted to the data contract."""
