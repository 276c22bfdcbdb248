"""Where the network looks: attribution maps and their sanity checks (attribution.json).

The maps come from Captum (``captum``): it is maintained by the PyTorch team, it has both methods used here
(Grad-CAM and Integrated Gradients), and it gives layer attributions (Grad-CAM reads a layer's output) and input
attributions (Integrated Gradients reads the pixels) through one API, for any differentiable model. One module per
method (``gradcam.py``, ``integrated_gradients.py``), registered in ``methods.METHODS``; the checks the maps are
judged by (cascading randomisation, deletion and insertion, where the mass lies) in ``checks.py``; the images and
the document in ``document.py``."""
