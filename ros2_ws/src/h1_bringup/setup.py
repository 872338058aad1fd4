from glob import glob

from setuptools import find_packages, setup

package_name = "h1_bringup"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml"]),
        ("share/" + package_name + "/config", glob("config/*.yaml")),
        ("share/" + package_name + "/launch", glob("launch/*.py")),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="VLA-LEGO maintainers",
    maintainer_email="vla-lego@example.com",
    description="Unitree H1 bringup for VLA-LEGO",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "h1_bridge_node = h1_bringup.h1_bridge_node:main",
            "h1_sim_node = h1_bringup.h1_sim_node:main",
            "camera_node = h1_bringup.camera_node:main",
        ],
    },
)
