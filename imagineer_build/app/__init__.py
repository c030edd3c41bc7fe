"""`imagineer serve`: a local web app to browse every album, filter it, edit the files people
own (label overrides, score flags, review and people files) and watch builds.

It is a thin layer over the library, like the CLI: it reads artifacts through the store, writes
only the project files the CLI's commands write (with the same functions), and builds through
the engine under the same store lock. Nothing here is imported by a build.
"""
