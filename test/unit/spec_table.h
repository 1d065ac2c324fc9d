/* spec_table.h: the pair table of SPEC section 1 for N = 4, for the tests of placement. */
#ifndef DFS_TEST_SPEC_TABLE_H
#define DFS_TEST_SPEC_TABLE_H

/* spec_table[row][server - 1] = {first, second}. */
static const unsigned spec_table[4][4][2] = {
    {{1, 2}, {2, 3}, {3, 4}, {4, 1}},
    {{4, 1}, {1, 2}, {2, 3}, {3, 4}},
    {{3, 4}, {4, 1}, {1, 2}, {2, 3}},
    {{2, 3}, {3, 4}, {4, 1}, {1, 2}},
};

#endif
