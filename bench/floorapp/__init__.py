"""The stack's floor (bench/floor.py): the least a request costs in Django + django-ninja + psycopg under
gunicorn on this machine, for the shapes of Tessera's point-of-sale requests. Not part of Tessera."""
