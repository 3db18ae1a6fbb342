"""Shape checks for OpenAI JSON: each failure is a ``_Malformed`` naming the field by its path.

The checks are protocol-neutral and live in :mod:`torouter.router.protocols.common`; this module
gives them the names the OpenAI codec's modules use. The codec turns ``_Malformed`` into a 400
for a caller's request and a 502 for an upstream's response; the stream reader turns it into a
``StreamFailure``.
"""

from __future__ import annotations

from ...common import Malformed as _Malformed
from ...common import invalid as _invalid
from ...common import obj as _obj
from ...common import opt_bool as _opt_bool
from ...common import opt_dict as _opt_dict
from ...common import opt_int as _opt_int
from ...common import opt_list as _opt_list
from ...common import opt_num as _opt_num
from ...common import opt_str as _opt_str
from ...common import req_dict as _req_dict
from ...common import req_list as _req_list
from ...common import req_str as _req_str
from ...common import required as _required
from ...common import wrong as _wrong

__all__ = [
    "_Malformed",
    "_invalid",
    "_obj",
    "_opt_bool",
    "_opt_dict",
    "_opt_int",
    "_opt_list",
    "_opt_num",
    "_opt_str",
    "_req_dict",
    "_req_list",
    "_req_str",
    "_required",
    "_wrong",
]
