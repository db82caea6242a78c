"""Networks MONAI lacks. Importing this package registers nothing: call :func:`register_vgg_encoders` (in a bundle
config, ``"_requires_": "$mammo_monai.networks.register_vgg_encoders()"`` on the ``FlexibleUNet``) to add the VGG16(-BN)
encoder to MONAI's ``FlexibleUNet`` backbones."""

from .vgg_encoder import VGGEncoder, load_vgg_weights, register_vgg_encoders

__all__ = ["VGGEncoder", "load_vgg_weights", "register_vgg_encoders"]
