from glob import glob

from setuptools import find_packages, setup

package_name = "vla_lego_policy"

setup(
    name=package_name,
    version="0.1.0",
    packages=find_packages(exclude=["test"]),
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml"]),
        ("share/" + package_name + "/config", glob("config/*.yaml")),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="VLA-LEGO maintainers",
    maintainer_email="vla-lego@example.com",
    description="ROS 2 policy node for VLA-LEGO",
    license="Apache-2.0",
    entry_points={
        "console_scripts": [
            "policy_node = vla_lego_policy.policy_node:main",
        ],
    },
)
