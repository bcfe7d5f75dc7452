"""Conversations: subjects and reply markers, message identities, keyed case (tracking) addresses, the
threading engine, the headers an answer carries, the lake's incremental threading and offline threading of
mail files."""
