"""Where published posts go (`publishing.posts.to`), each destination in its own module.

`base` holds what they share (the Destination protocol, PostDraft, Placed,
DestinationError); `local` (gladtui's own table), `postgres` (the blog's
table, psycopg), `markdown` (files for a static site) and `webhook` (a
signed POST) implement it; `factory` builds the configured one, importing
only its module, so psycopg loads only when posts go to PostgreSQL.
`secrets` finds what must never be shown (the DSN's password) without
importing any client.
"""
