"""Work spread over a Ray cluster (`assistant index --ray auto|ADDRESS`, the `distributed` extra).

Nothing here is imported unless a build asks for Ray.
"""
