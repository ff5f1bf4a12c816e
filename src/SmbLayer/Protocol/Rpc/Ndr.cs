using System.Buffers.Binary;
using System.Text;

namespace SmbLayer.Protocol.Rpc;

/// <summary>
/// Reads NDR 2.0 transfer syntax, little-endian (C706 §14; MS-RPCE §2.2.5): scalars aligned to their size from the
/// start of the stub, unique pointers as 32-bit referent ids, conformant varying strings. Every length, count and
/// offset is checked against the buffer and against the caller's limits: a bad one is an <see cref="SmbProtocolException"/>
/// naming it, never a read outside or an allocation the server chose.
/// </summary>
internal ref struct NdrReader(ReadOnlySpan<byte> buffer, string what)
{
    private readonly ReadOnlySpan<byte> _buffer = buffer;
    private int _position;

    public readonly int Position => _position;

    public readonly int Remaining => _buffer.Length - _position;

    public uint U32(string field)
    {
        Align(4, field);
        Need(4, field);
        var value = BinaryPrimitives.ReadUInt32LittleEndian(_buffer[_position..]);
        _position += 4;
        return value;
    }

    /// <summary>A unique or full pointer's referent id (0: null).</summary>
    public uint Pointer(string field) => U32(field);

    /// <summary>
    /// A conformant varying UTF-16 string ([string] wchar_t*): MaximumCount, Offset, ActualCount, then the characters. The
    /// terminating NUL, which the count includes, is dropped; a string longer than <paramref name="maxChars"/> is refused.
    /// </summary>
    public string ConformantVaryingString(string field, int maxChars)
    {
        var max = U32(field + ".MaximumCount");
        var offset = U32(field + ".Offset");
        var actual = U32(field + ".ActualCount");
        if (offset != 0 || actual > max)
        {
            throw Bad($"{field}: Offset {offset} and ActualCount {actual} with MaximumCount {max} (offset must be 0, count within the maximum)");
        }
        if (actual > (uint)maxChars)
        {
            throw Bad($"{field}: {actual} characters, more than the {maxChars} allowed");
        }
        var bytes = (int)actual * 2;
        Need(bytes, field);
        var text = Encoding.Unicode.GetString(_buffer.Slice(_position, bytes));
        _position += bytes;
        var nul = text.IndexOf('\0');
        return nul < 0 ? text : text[..nul];
    }

    /// <summary>Moves to the next multiple of <paramref name="alignment"/>; the padding must be in the buffer.</summary>
    public void Align(int alignment, string field)
    {
        var aligned = (_position + alignment - 1) & ~(alignment - 1);
        if (aligned > _buffer.Length)
        {
            throw Bad($"{field}: the stub ends at {_buffer.Length} bytes, before its alignment padding");
        }
        _position = aligned;
    }

    private readonly void Need(int count, string field)
    {
        if (count < 0 || count > _buffer.Length - _position)
        {
            throw Bad($"{field}: {count} bytes needed at offset {_position}, {_buffer.Length - _position} left");
        }
    }

    private readonly SmbProtocolException Bad(string detail) => new($"{what}: {detail}.");
}

/// <summary>Writes NDR 2.0 little-endian (the counterpart of <see cref="NdrReader"/>), for requests.</summary>
internal sealed class NdrWriter
{
    private readonly List<byte> _bytes = [];

    /// <summary>Referent ids for unique pointers: any non-zero value, distinct within a message.</summary>
    private uint _nextReferent = 0x0002_0000;

    public void U32(uint value)
    {
        Align(4);
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        _bytes.AddRange(b);
    }

    /// <summary>A non-null unique pointer's referent id.</summary>
    public void Referent() => U32(_nextReferent += 4);

    /// <summary>A conformant varying string with its terminating NUL.</summary>
    public void ConformantVaryingString(string text)
    {
        var count = (uint)text.Length + 1;
        U32(count);
        U32(0);
        U32(count);
        _bytes.AddRange(Encoding.Unicode.GetBytes(text + "\0"));
    }

    public void Align(int alignment)
    {
        while (_bytes.Count % alignment != 0)
        {
            _bytes.Add(0);
        }
    }

    public byte[] ToArray() => [.. _bytes];
}
