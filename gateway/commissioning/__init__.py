"""The local commissioning page: what a technician on a ladder needs to aim a camera and draw masks.

A local viewer, never part of the data path: it watches each camera's analysis frames (privacy masks
already black), the fall detector's person boxes and the sensors' latest readings, and serves them
only on its configured local address behind a login. Nothing here publishes or stores anything.
"""
