using System.Security.Cryptography;

namespace SmbLayer.Security;

/// <summary>
/// AES-CMAC (RFC 4493). An instance keeps the AES key schedule and the two subkeys for one key;
/// it is safe to share between threads (calls are serialised by a private lock).
/// The message may be given as up to three parts that are MACed as their concatenation,
/// which lets a verifier skip the signature field without touching the buffer.
/// </summary>
internal sealed class AesCmac : IDisposable
{
    public const int MacSize = 16;
    private const int BlockSize = 16;
    // RFC 4493 §2.3: Rb for a 128-bit block cipher.
    private const byte Rb = 0x87;
    // Bulk blocks are pushed through CBC mode (zero-IV CBC-MAC is the CMAC chain) in chunks of this size.
    private const int ChunkSize = 4096;

    private readonly Aes _aes;
    private readonly byte[] _k1 = new byte[BlockSize];
    private readonly byte[] _k2 = new byte[BlockSize];
    private readonly byte[] _chunk = new byte[ChunkSize];
    private readonly byte[] _chain = new byte[BlockSize];
    private readonly byte[] _pending = new byte[BlockSize];
    private readonly Lock _lock = new();
    private bool _disposed;

    public AesCmac(ReadOnlySpan<byte> key)
    {
        if (key.Length is not (16 or 24 or 32))
        {
            throw new ArgumentException($"AES-CMAC key length {key.Length} bytes is invalid; need 16, 24 or 32.", nameof(key));
        }
        _aes = Aes.Create();
        _aes.Key = key.ToArray();
        GenerateSubkeys();
    }

    /// <summary>One-shot AES-CMAC of <paramref name="message"/> under <paramref name="key"/>.</summary>
    public static void Compute(ReadOnlySpan<byte> key, ReadOnlySpan<byte> message, Span<byte> mac16)
    {
        using var cmac = new AesCmac(key);
        cmac.Compute(message, mac16);
    }

    /// <summary>AES-CMAC of <paramref name="message"/>; writes 16 bytes to <paramref name="mac16"/>.</summary>
    public void Compute(ReadOnlySpan<byte> message, Span<byte> mac16) =>
        Compute(message, ReadOnlySpan<byte>.Empty, ReadOnlySpan<byte>.Empty, mac16);

    /// <summary>AES-CMAC of the concatenation <paramref name="part1"/> || <paramref name="part2"/> || <paramref name="part3"/>.</summary>
    public void Compute(ReadOnlySpan<byte> part1, ReadOnlySpan<byte> part2, ReadOnlySpan<byte> part3, Span<byte> mac16)
    {
        if (mac16.Length < MacSize)
        {
            throw new ArgumentException($"MAC destination is {mac16.Length} bytes; need {MacSize}.", nameof(mac16));
        }
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            var state = new State(this);
            state.Append(part1);
            state.Append(part2);
            state.Append(part3);
            state.Finish(mac16);
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }
            _disposed = true;
            CryptographicOperations.ZeroMemory(_k1);
            CryptographicOperations.ZeroMemory(_k2);
            CryptographicOperations.ZeroMemory(_chunk);
            _aes.Dispose();
        }
    }

    private void EncryptBlock(ReadOnlySpan<byte> input, Span<byte> output) =>
        _aes.EncryptEcb(input, output, PaddingMode.None);

    // RFC 4493 §2.3 Generate_Subkey.
    private void GenerateSubkeys()
    {
        Span<byte> l = stackalloc byte[BlockSize];
        Span<byte> zero = stackalloc byte[BlockSize];
        zero.Clear();
        EncryptBlock(zero, l);
        ShiftLeftXorRb(l, _k1);
        ShiftLeftXorRb(_k1, _k2);
        CryptographicOperations.ZeroMemory(l);
    }

    private static void ShiftLeftXorRb(ReadOnlySpan<byte> input, Span<byte> output)
    {
        var msbSet = (input[0] & 0x80) != 0;
        for (var i = 0; i < BlockSize - 1; i++)
        {
            output[i] = (byte)((input[i] << 1) | (input[i + 1] >> 7));
        }
        output[BlockSize - 1] = (byte)(input[BlockSize - 1] << 1);
        if (msbSet)
        {
            output[BlockSize - 1] ^= Rb;
        }
    }

    /// <summary>
    /// Running CMAC state. The last block (full or partial) is held back in <see cref="_pending"/>
    /// because RFC 4493 treats it specially; everything before it goes through the CBC chain.
    /// </summary>
    private ref struct State
    {
        private readonly AesCmac _owner;
        private readonly Span<byte> _chain;
        private readonly Span<byte> _pending;
        private int _pendingLength;

        public State(AesCmac owner)
        {
            _owner = owner;
            // Buffers belong to the owner; the owner's lock makes this state exclusive.
            _chain = owner._chain;
            _chain.Clear();
            _pending = owner._pending;
            _pendingLength = 0;
        }

        public void Append(ReadOnlySpan<byte> data)
        {
            while (!data.IsEmpty)
            {
                if (_pendingLength == BlockSize)
                {
                    // More data follows, so the held block is not the last one: chain it.
                    ProcessPending();
                }
                if (_pendingLength == 0 && data.Length > BlockSize)
                {
                    // Bulk: all whole blocks except the last block of this data (which may be the message's last).
                    var bulk = (data.Length - 1) / BlockSize * BlockSize;
                    ChainBulk(data[..bulk]);
                    data = data[bulk..];
                    continue;
                }
                var take = Math.Min(BlockSize - _pendingLength, data.Length);
                data[..take].CopyTo(_pending[_pendingLength..]);
                _pendingLength += take;
                data = data[take..];
            }
        }

        public void Finish(Span<byte> mac)
        {
            Span<byte> last = stackalloc byte[BlockSize];
            if (_pendingLength == BlockSize)
            {
                for (var i = 0; i < BlockSize; i++)
                {
                    last[i] = (byte)(_pending[i] ^ _owner._k1[i]);
                }
            }
            else
            {
                // Pad with 10^i (RFC 4493 §2.4 step 4), then xor K2. Also covers the empty message.
                last.Clear();
                _pending[.._pendingLength].CopyTo(last);
                last[_pendingLength] = 0x80;
                for (var i = 0; i < BlockSize; i++)
                {
                    last[i] ^= _owner._k2[i];
                }
            }
            for (var i = 0; i < BlockSize; i++)
            {
                last[i] ^= _chain[i];
            }
            _owner.EncryptBlock(last, mac[..MacSize]);
            CryptographicOperations.ZeroMemory(last);
            CryptographicOperations.ZeroMemory(_chain);
            CryptographicOperations.ZeroMemory(_pending);
        }

        private void ProcessPending()
        {
            Span<byte> block = stackalloc byte[BlockSize];
            for (var i = 0; i < BlockSize; i++)
            {
                block[i] = (byte)(_pending[i] ^ _chain[i]);
            }
            _owner.EncryptBlock(block, _chain);
            _pendingLength = 0;
        }

        private void ChainBulk(ReadOnlySpan<byte> blocks)
        {
            var scratch = _owner._chunk;
            while (!blocks.IsEmpty)
            {
                var n = Math.Min(blocks.Length, ChunkSize);
                // CBC with IV = current chain value; the last ciphertext block is the new chain value.
                _owner._aes.EncryptCbc(blocks[..n], _chain, scratch.AsSpan(0, n), PaddingMode.None);
                scratch.AsSpan(n - BlockSize, BlockSize).CopyTo(_chain);
                blocks = blocks[n..];
            }
        }
    }
}
