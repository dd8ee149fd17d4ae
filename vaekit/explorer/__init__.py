"""An interactive latent-space explorer in the browser (``vaekit explore RUN DATA``).

    from vaekit.explorer import ExplorerServer, LatentExplorer
    server = ExplorerServer(LatentExplorer(vae, data), port=8765)
    print(server.url)
    server.serve_forever()

``explorer`` answers the page's questions from the model, ``api`` checks requests, ``server``
serves the page (``static/``, plain HTML/CSS/JS with no external resources) on 127.0.0.1.
"""

from vaekit.explorer.explorer import LatentExplorer
from vaekit.explorer.server import ExplorerServer

__all__ = ["ExplorerServer", "LatentExplorer"]
