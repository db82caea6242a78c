"""Networks MONAI lacks; importing this package registers them (``"$import mammo_monai.networks"`` in configs)."""

from monai.networks.nets.flexible_unet import FLEXUNET_BACKBONE

from .vgg_encoder import VGGEncoder, load_vgg_weights

if "vgg16_bn" not in FLEXUNET_BACKBONE.register_dict:
    FLEXUNET_BACKBONE.register_class(VGGEncoder)

__all__ = ["VGGEncoder", "load_vgg_weights"]
