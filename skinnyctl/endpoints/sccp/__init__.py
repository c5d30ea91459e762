"""The SCCP phones: registration and requests (``registration``), what a device is
(``stations``), answers to its requests (``answers``), message waiting (``mwi``), and its call
planes as the phone-line endpoint of the switch (``phone``)."""
