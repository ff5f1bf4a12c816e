using System.Buffers.Binary;

namespace SmbLayer.Protocol.Rpc;

/// <summary>
/// Connection-oriented DCE/RPC PDUs over an SMB named pipe (C706 §12.6; MS-RPCE §2.2.2): bind, bind_ack/bind_nak,
/// request, response and fault, without RPC-level authentication (the SMB session authenticates the pipe). Requests go
/// in one fragment; responses are reassembled from their fragments by <see cref="ResponseAssembler"/>.
/// </summary>
internal static class DceRpc
{
    public const byte PtypeRequest = 0;
    public const byte PtypeResponse = 2;
    public const byte PtypeFault = 3;
    public const byte PtypeBind = 11;
    public const byte PtypeBindAck = 12;
    public const byte PtypeBindNak = 13;

    public const byte FirstFragment = 0x01;
    public const byte LastFragment = 0x02;

    public const int HeaderSize = 16;
    private const int RequestHeaderSize = 24;

    /// <summary>The fragment size asked for in the bind, what Windows and Samba use.</summary>
    public const ushort MaxFragment = 4280;

    /// <summary>The NDR 2.0 transfer syntax, 8a885d04-1ceb-11c9-9fe8-08002b104860 version 2.</summary>
    private static readonly Guid Ndr20 = new("8a885d04-1ceb-11c9-9fe8-08002b104860");

    /// <summary>BIND for one presentation context (id 0): <paramref name="abstractSyntax"/> in NDR 2.0.</summary>
    public static byte[] EncodeBind(uint callId, Guid abstractSyntax, ushort majorVersion, ushort minorVersion)
    {
        var pdu = new byte[HeaderSize + 8 + 4 + 4 + 20 + 20];
        WriteHeader(pdu, PtypeBind, callId);
        var body = pdu.AsSpan(HeaderSize);
        BinaryPrimitives.WriteUInt16LittleEndian(body, MaxFragment); // max_xmit_frag
        BinaryPrimitives.WriteUInt16LittleEndian(body[2..], MaxFragment); // max_recv_frag
        BinaryPrimitives.WriteUInt32LittleEndian(body[4..], 0); // assoc_group_id: a new one
        body[8] = 1; // n_context_elem
        BinaryPrimitives.WriteUInt16LittleEndian(body[12..], 0); // p_cont_id
        body[14] = 1; // n_transfer_syn
        abstractSyntax.TryWriteBytes(body[16..]);
        BinaryPrimitives.WriteUInt16LittleEndian(body[32..], majorVersion);
        BinaryPrimitives.WriteUInt16LittleEndian(body[34..], minorVersion);
        Ndr20.TryWriteBytes(body[36..]);
        BinaryPrimitives.WriteUInt32LittleEndian(body[52..], 2);
        return pdu;
    }

    /// <summary>REQUEST for <paramref name="opnum"/> on context 0, in one fragment.</summary>
    public static byte[] EncodeRequest(uint callId, ushort opnum, ReadOnlySpan<byte> stub)
    {
        if (stub.Length > MaxFragment - RequestHeaderSize)
        {
            throw new ArgumentException($"A request stub of {stub.Length} bytes needs more than one fragment.", nameof(stub));
        }
        var pdu = new byte[RequestHeaderSize + stub.Length];
        WriteHeader(pdu, PtypeRequest, callId);
        BinaryPrimitives.WriteUInt32LittleEndian(pdu.AsSpan(16), (uint)stub.Length); // alloc_hint
        BinaryPrimitives.WriteUInt16LittleEndian(pdu.AsSpan(20), 0); // p_cont_id
        BinaryPrimitives.WriteUInt16LittleEndian(pdu.AsSpan(22), opnum);
        stub.CopyTo(pdu.AsSpan(RequestHeaderSize));
        return pdu;
    }

    private static void WriteHeader(Span<byte> pdu, byte type, uint callId)
    {
        pdu[0] = 5; // rpc_vers
        pdu[1] = 0; // rpc_vers_minor
        pdu[2] = type;
        pdu[3] = FirstFragment | LastFragment;
        pdu[4] = 0x10; // packed_drep: little-endian integers, ASCII, IEEE floats
        BinaryPrimitives.WriteUInt16LittleEndian(pdu[8..], (ushort)pdu.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(pdu[10..], 0); // auth_length
        BinaryPrimitives.WriteUInt32LittleEndian(pdu[12..], callId);
    }

    /// <summary>
    /// Checks a BIND answer: a bind_ack (one whole fragment, for <paramref name="callId"/>) whose first result accepts the
    /// context. A bind_nak, a rejected context, or anything else is an error naming why.
    /// </summary>
    public static void CheckBindAck(ReadOnlySpan<byte> pdu, uint callId, string what)
    {
        var (type, flags, length) = ReadHeader(pdu, callId, what);
        if (type == PtypeBindNak)
        {
            var reason = length >= HeaderSize + 2 ? BinaryPrimitives.ReadUInt16LittleEndian(pdu[HeaderSize..]) : -1;
            throw new SmbRpcException(0, $"{what}: the server refused the bind (bind_nak, reason {reason})");
        }
        if (type != PtypeBindAck || (flags & (FirstFragment | LastFragment)) != (FirstFragment | LastFragment) || length != pdu.Length)
        {
            throw new SmbProtocolException($"{what}: expected one bind_ack fragment of {pdu.Length} bytes, got type {type}, flags 0x{flags:X2}, length {length}.");
        }
        // max_xmit, max_recv, assoc_group, then the secondary address (a counted string), padded to 4, then the results.
        var position = HeaderSize + 8;
        if (position + 2 > length)
        {
            throw new SmbProtocolException($"{what}: bind_ack of {length} bytes ends before its secondary address.");
        }
        var addressLength = BinaryPrimitives.ReadUInt16LittleEndian(pdu[position..]);
        position = (position + 2 + addressLength + 3) & ~3;
        if (position + 4 + 24 > length)
        {
            throw new SmbProtocolException($"{what}: bind_ack of {length} bytes ends before its result list (secondary address of {addressLength} bytes).");
        }
        var results = pdu[position];
        var result = BinaryPrimitives.ReadUInt16LittleEndian(pdu[(position + 4)..]);
        var reason2 = BinaryPrimitives.ReadUInt16LittleEndian(pdu[(position + 6)..]);
        if (results < 1 || result != 0)
        {
            throw new SmbRpcException(0, $"{what}: the server did not accept the interface (bind_ack with {results} result(s), result {result}, reason {reason2})");
        }
    }

    private static (byte Type, byte Flags, int Length) ReadHeader(ReadOnlySpan<byte> pdu, uint callId, string what)
    {
        if (pdu.Length < HeaderSize)
        {
            throw new SmbProtocolException($"{what}: a PDU of {pdu.Length} bytes is shorter than the 16-byte header.");
        }
        if (pdu[0] != 5 || pdu[1] != 0)
        {
            throw new SmbProtocolException($"{what}: RPC version {pdu[0]}.{pdu[1]}; only 5.0 is spoken.");
        }
        if ((pdu[4] & 0xF0) != 0x10)
        {
            throw new SmbProtocolException($"{what}: data representation 0x{pdu[4]:X2} is not little-endian.");
        }
        var length = BinaryPrimitives.ReadUInt16LittleEndian(pdu[8..]);
        var authLength = BinaryPrimitives.ReadUInt16LittleEndian(pdu[10..]);
        var id = BinaryPrimitives.ReadUInt32LittleEndian(pdu[12..]);
        if (length < HeaderSize || length > pdu.Length)
        {
            throw new SmbProtocolException($"{what}: frag_length {length} with {pdu.Length} bytes at hand.");
        }
        if (authLength != 0)
        {
            throw new SmbProtocolException($"{what}: auth_length {authLength} on an unauthenticated binding.");
        }
        if (id != callId)
        {
            throw new SmbProtocolException($"{what}: call_id {id}, expected {callId}.");
        }
        return (pdu[2], pdu[3], length);
    }

    /// <summary>
    /// Reassembles the response to one request from the bytes read off the pipe, fragment by fragment: each must be a
    /// response (a fault ends the call with <see cref="SmbRpcException"/>) for the call, the first flagged first, and the
    /// stub may not grow past <c>maxStub</c>.
    /// </summary>
    public sealed class ResponseAssembler(uint callId, int maxStub, string what)
    {
        private readonly List<byte> _pending = [];
        private readonly List<byte> _stub = [];
        private bool _started;

        /// <summary>The last fragment has come: <see cref="Stub"/> is whole.</summary>
        public bool Complete { get; private set; }

        public byte[] Stub => [.. _stub];

        /// <summary>Takes bytes read from the pipe; more after the last fragment is a protocol error.</summary>
        public void Add(ReadOnlySpan<byte> bytes)
        {
            if (Complete && !bytes.IsEmpty)
            {
                throw new SmbProtocolException($"{what}: {bytes.Length} bytes after the last fragment.");
            }
            _pending.AddRange(bytes);
            while (!Complete && _pending.Count >= HeaderSize)
            {
                var length = BinaryPrimitives.ReadUInt16LittleEndian([_pending[8], _pending[9]]);
                if (length < HeaderSize)
                {
                    throw new SmbProtocolException($"{what}: frag_length {length} is shorter than the header.");
                }
                if (_pending.Count < length)
                {
                    return; // the rest of this fragment is still in the pipe
                }
                var fragment = _pending.GetRange(0, length).ToArray();
                _pending.RemoveRange(0, length);
                Take(fragment);
            }
            if (Complete && _pending.Count > 0)
            {
                throw new SmbProtocolException($"{what}: {_pending.Count} bytes after the last fragment.");
            }
        }

        private void Take(ReadOnlySpan<byte> pdu)
        {
            var (type, flags, length) = ReadHeader(pdu, callId, what);
            if (type == PtypeFault)
            {
                var status = length >= RequestHeaderSize + 4 ? BinaryPrimitives.ReadUInt32LittleEndian(pdu[RequestHeaderSize..]) : 0;
                throw new SmbRpcException(status, $"{what}: the server answered with a fault, {SmbRpcException.Describe(status)}");
            }
            if (type != PtypeResponse || length < RequestHeaderSize)
            {
                throw new SmbProtocolException($"{what}: a PDU of type {type} and {length} bytes where a response was expected.");
            }
            if (((flags & FirstFragment) != 0) == _started)
            {
                throw new SmbProtocolException(_started ? $"{what}: a second first fragment." : $"{what}: the first fragment is not flagged first.");
            }
            _started = true;
            if (_stub.Count + (length - RequestHeaderSize) > maxStub)
            {
                throw new SmbProtocolException($"{what}: the response grows past {maxStub} bytes.");
            }
            _stub.AddRange(pdu[RequestHeaderSize..length]);
            Complete = (flags & LastFragment) != 0;
        }
    }
}
