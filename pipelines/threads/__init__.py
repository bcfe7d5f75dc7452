"""Conversations: subjects and reply markers, message identities, the threading engine, the headers an
answer carries, the lake's incremental threading and offline threading of mail files."""
