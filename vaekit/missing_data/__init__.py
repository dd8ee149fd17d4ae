"""Missing data: importance-weighted imputation, the scikit-learn imputer, image inpainting."""
