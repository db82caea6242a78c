"""``python -m mammo_monai.deploy -i <dicom folder> -o <out folder> -m <models folder>`` (also
``python mammo_monai/deploy ...``, which is how ``holoscan package`` runs an app folder)."""

from mammo_monai.deploy.app import MammographyDeployApp

if __name__ == "__main__":
    MammographyDeployApp().run()
