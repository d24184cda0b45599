"""The command families of ``/deploy`` (issue 26 item 3): one class per family, each naming the command types it
runs; ``Pipeline.handle`` looks the family up by the command's type."""
