"""The bottom of the house: neutral types, errors and settings that every layer shares.

Imports nothing else of this package (and no engine library, no HTTP framework), so the engine,
backends, tool parsers and protocols can all depend on it without depending on each other.
"""
